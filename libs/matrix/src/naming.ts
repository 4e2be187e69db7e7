/**
 * `@tessera/matrix/naming`: job specs, task ids and storage keys alone, what a client names
 * things with, without the native CRC-32C addon the package root loads (~0.1 s of every `tessera`
 * command's start).
 */
export * from "./keys.js";
export * from "./spec.js";
export * from "./task-id.js";
