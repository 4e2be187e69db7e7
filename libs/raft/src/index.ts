export * from "./types.js";
export * from "./storage.js";
