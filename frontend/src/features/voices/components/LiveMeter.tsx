import { forwardRef, useImperativeHandle, useRef } from "react";
import type { LiveFrame } from "../hooks/use-recorder";
import { meterFraction } from "../recorder/levels";

const WAVEFORM_GAIN = 3;

export interface LiveMeterHandle {
  draw(frame: LiveFrame): void;
}

/** Level meter + waveform, drawn straight to the DOM every animation frame. */
export const LiveMeter = forwardRef<LiveMeterHandle>(function LiveMeter(_props, ref) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const barRef = useRef<HTMLDivElement>(null);
  useImperativeHandle(ref, () => ({
    draw(frame: LiveFrame) {
      const bar = barRef.current;
      if (bar) {
        bar.style.transform = `scaleX(${meterFraction(frame.dbfs)})`;
        bar.dataset.level = frame.peak >= 0.99 ? "clip" : frame.dbfs < -40 ? "low" : "ok";
      }
      const canvas = canvasRef.current;
      const g = canvas?.getContext("2d");
      if (!canvas || !g) return;
      const { width, height } = canvas;
      g.clearRect(0, 0, width, height);
      g.lineWidth = 2;
      g.strokeStyle = getComputedStyle(canvas).color;
      g.beginPath();
      const step = frame.samples.length / width;
      for (let x = 0; x < width; x++) {
        const sample = frame.samples[Math.floor(x * step)] ?? 0;
        // Speech rarely nears full scale; a fixed 3× gain makes it visible
        // without hiding how quiet a take is (the meter shows the true level).
        const shown = Math.max(-1, Math.min(1, sample * WAVEFORM_GAIN));
        const y = height / 2 - shown * (height / 2) * 0.95;
        if (x === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      }
      g.stroke();
    },
  }));
  return (
    <div className="live-meter">
      <canvas
        ref={canvasRef}
        width={560}
        height={96}
        className="waveform"
        aria-label="Live waveform"
      />
      <div className="level-track" aria-hidden="true">
        <div ref={barRef} className="level-bar" data-testid="level-bar" />
      </div>
    </div>
  );
});
