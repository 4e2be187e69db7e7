import type { KvOperation } from "../linearizability/check-kv.js";
import type { KvInput, KvOutput } from "../linearizability/kv-model.js";

/**
 * Records client operations with a global logical clock: every call and every return takes the
 * next tick, so no two events tie and "returned before called" is exact.
 */
export class HistoryRecorder {
  private clock = 0;
  readonly ops: KvOperation[] = [];

  /** Time stamp for a call happening now. */
  call(): number {
    return this.clock++;
  }

  complete(clientId: number, input: KvInput, call: number, output: KvOutput): void {
    this.ops.push({ clientId, input, output, call, ret: this.clock++ });
  }

  /** The client gave up: the operation may or may not have taken effect. */
  unknown(clientId: number, input: KvInput, call: number): void {
    this.ops.push({ clientId, input, output: undefined, call, ret: Number.POSITIVE_INFINITY });
  }
}
