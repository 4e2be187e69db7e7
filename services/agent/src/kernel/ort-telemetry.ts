// ONNX Runtime ≥ 1.29 ships telemetry on Linux and macOS too (1DS, microsoft/onnxruntime#27379):
// a persistent device id and an offline event cache under
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime, an empty /tmp/mat-debug-<pid>.log per process,
// and HTTPS uploads to Microsoft — on by default. An agent in a data pipeline (often with no
// route out) should not phone home or grow a cache nobody asked for, so Tessera turns it off
// unless the operator decided: ORT_DISABLE_TELEMETRY set either way is left alone, and
// TESSERA_ORT_TELEMETRY=1 keeps ONNX Runtime's own default. ONNX Runtime reads the variable when
// it creates its environment, at the first session, so this runs when a KernelRunner is created
// (every session comes from one; on the agent's thread, before any kernel thread: a worker's
// process.env is a private copy) and before the CUDA probe, which can also be called alone.

/** What to set, if anything: `ORT_DISABLE_TELEMETRY=1` unless the operator chose. Pure. */
export function ortTelemetryOverride(
  env: Readonly<Record<string, string | undefined>>,
): { ORT_DISABLE_TELEMETRY: "1" } | undefined {
  if (env.ORT_DISABLE_TELEMETRY !== undefined) return undefined;
  if (env.TESSERA_ORT_TELEMETRY === "1") return undefined;
  return { ORT_DISABLE_TELEMETRY: "1" };
}

/** Applies ortTelemetryOverride to this process (native getenv sees process.env writes). */
export function disableOrtTelemetryUnlessAllowed(): void {
  const override = ortTelemetryOverride(process.env);
  if (override) process.env.ORT_DISABLE_TELEMETRY = override.ORT_DISABLE_TELEMETRY;
}
