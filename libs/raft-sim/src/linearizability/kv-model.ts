import type { Model } from "./history.js";

/**
 * Operations on one key of a key/value store. `append` makes lost writes visible (every later read
 * carries every earlier append); `cas` adds a conditional write whose outcome depends on state.
 */
export type KvInput =
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "append"; readonly key: string; readonly value: string }
  | {
      readonly kind: "cas";
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

export type KvOutput =
  | { readonly kind: "done" }
  | { readonly kind: "value"; readonly value: string | null }
  | { readonly kind: "cas"; readonly swapped: boolean };

/** The register a single key behaves as; `null` means the key is absent. */
export type KvRegister = string | null;

/** Applies one operation to a register: the single-copy semantics shared by model and store. */
export function applyKv(
  state: KvRegister,
  input: KvInput,
): { state: KvRegister; output: KvOutput } {
  switch (input.kind) {
    case "put":
      return { state: input.value, output: { kind: "done" } };
    case "get":
      return { state, output: { kind: "value", value: state } };
    case "append":
      return { state: (state ?? "") + input.value, output: { kind: "done" } };
    case "cas": {
      const swapped = state === input.expected;
      return { state: swapped ? input.value : state, output: { kind: "cas", swapped } };
    }
  }
}

function sameOutput(a: KvOutput, b: KvOutput): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "value") return a.value === (b as { value: string | null }).value;
  if (a.kind === "cas") return a.swapped === (b as { swapped: boolean }).swapped;
  return true;
}

export const kvRegisterModel: Model<KvRegister, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    const r = applyKv(state, input);
    if (output !== undefined && !sameOutput(r.output, output)) return undefined;
    return r.state;
  },
  // "\u0000" cannot start a stored value's encoding, so absent and "" stay distinct.
  stateKey: (state) => (state === null ? "\u0000absent" : `=${state}`),
  describe(input, output) {
    const res =
      output === undefined
        ? "-> (unknown outcome)"
        : output.kind === "value"
          ? `-> ${output.value === null ? "absent" : JSON.stringify(output.value)}`
          : output.kind === "cas"
            ? `-> ${output.swapped ? "swapped" : "not swapped"}`
            : "-> ok";
    switch (input.kind) {
      case "get":
        return `get(${input.key}) ${res}`;
      case "put":
        return `put(${input.key}, ${JSON.stringify(input.value)}) ${res}`;
      case "append":
        return `append(${input.key}, ${JSON.stringify(input.value)}) ${res}`;
      case "cas":
        return `cas(${input.key}, ${JSON.stringify(input.expected)} -> ${JSON.stringify(input.value)}) ${res}`;
    }
  },
};
