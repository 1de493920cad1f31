/// <reference types="vitest/config" />
import { fileURLToPath, URL } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// In development the backend (port 8080) serves the API; Vite proxies to it so
// the session cookie stays first-party. In production the backend serves dist/.
const backend = process.env.OWNVOICE_BACKEND_URL ?? "http://localhost:8080";

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/v1": { target: backend, changeOrigin: false },
    },
  },
  build: { sourcemap: true },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
