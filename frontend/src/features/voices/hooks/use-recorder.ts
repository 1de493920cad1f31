import { useEffect, useRef, useState } from "react";
import { type LiveFrame, RecorderMachine, type RecorderState } from "../recorder/recorder-machine";
import { createBrowserRecorderDeps } from "../recorder/web-recorder";

export type { LiveFrame, RecorderPhase, Take } from "../recorder/recorder-machine";

/**
 * The recorder (recorder-machine.ts) bound to React: one machine per mounted dialog, its state
 * as React state. `onFrame` is called every animation frame without re-rendering.
 */
export function useRecorder(onFrame: (frame: LiveFrame) => void) {
  const [machine, setMachine] = useState<RecorderMachine | null>(null);
  const [state, setState] = useState<RecorderState | null>(null);
  const onFrameRef = useRef(onFrame);
  onFrameRef.current = onFrame;

  useEffect(() => {
    const created = new RecorderMachine(createBrowserRecorderDeps());
    created.subscribe(setState);
    created.onFrame((frame) => onFrameRef.current(frame));
    setMachine(created);
    return () => created.dispose();
  }, []);

  const current = state ?? IDLE;
  return {
    ...current,
    start: () => void machine?.start(),
    stop: () => machine?.stop(),
    discard: () => machine?.discard(),
    /** True when the dialog may close (asked first if a take would be lost). */
    requestClose: () => machine?.requestClose() ?? true,
  };
}

const IDLE: RecorderState = {
  phase: "idle",
  error: null,
  countdown: 3,
  elapsed: 0,
  hints: [],
  take: null,
};
