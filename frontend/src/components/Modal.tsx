import { type ReactNode, useEffect, useRef } from "react";

interface ModalProps {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
  /** "drawer": slides in from the left edge; "sheet": rises from the bottom (phone layouts). */
  variant?: "drawer" | "sheet";
}

/**
 * A native <dialog>: focus trapping and Escape come from the browser. When it goes, focus goes
 * back to what had it before (the button that opened it), as long as that is still on the page.
 */
export function Modal({ title, onClose, children, wide, variant }: ModalProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (dialog && !dialog.open) dialog.showModal();
    return () => {
      dialog?.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`modal${wide ? " modal-wide" : ""}${variant ? ` modal-${variant}` : ""}`}
      aria-label={title}
      onCancel={(event) => {
        // Escape on the dialog itself. A file input inside fires its own bubbling "cancel"
        // when its picker is dismissed: that must not close the dialog.
        if (event.target !== event.currentTarget) return;
        event.preventDefault();
        onClose();
      }}
    >
      <header className="modal-header">
        <h2>{title}</h2>
        <button
          type="button"
          className="btn btn-ghost btn-icon"
          onClick={onClose}
          aria-label="Close"
        >
          ✕
        </button>
      </header>
      <div className="modal-body">{children}</div>
    </dialog>
  );
}
