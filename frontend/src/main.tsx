import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { AppRouter } from "./app/router";
import "./app/styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Client errors (bad request, not found, signed out) won't fix themselves.
      retry: (failureCount, error) => {
        const status = (error as { status?: number }).status ?? 0;
        return failureCount < 2 && (status === 0 || status >= 500);
      },
      refetchOnWindowFocus: false,
    },
  },
});

const root = document.getElementById("root");
if (!root) throw new Error("index.html lacks #root");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AppRouter />
    </QueryClientProvider>
  </StrictMode>,
);
