import { useEffect } from "react";

/** Sets the browser tab's title for the page shown ("Library · Ownvoice"). */
export function usePageTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · Ownvoice` : "Ownvoice";
  }, [title]);
}
