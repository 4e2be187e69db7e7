// Wraps the manifest FSM so that every applied index's events are recorded in the event ring
// (with the entry's term and stamped time). Wrapping the state
// machine rather than listening to the peer means replay after a restart fills the ring too,
// and the batch carries exactly the entry's term/stampedAt on every peer.
import type {
  ApplyOutcome,
  BatchApplyOutcome,
  CommittedBatch,
  CommittedCommand,
  ManifestEventOut,
  StateMachine,
} from "../state-machine.js";
import { type EventRing, eventBatchRecord } from "./event-ring.js";

export class RecordingStateMachine implements StateMachine {
  constructor(
    readonly inner: StateMachine,
    private readonly ring: EventRing,
  ) {}

  apply(cmd: CommittedCommand): ApplyOutcome {
    const out = this.inner.apply(cmd);
    this.record(cmd, out.events);
    return out;
  }

  applyBatch(entry: CommittedBatch): BatchApplyOutcome {
    const out = this.inner.applyBatch(entry);
    this.record(entry, out.events);
    return out;
  }

  private record(entry: CommittedBatch | CommittedCommand, events: readonly ManifestEventOut[]) {
    if (events.length > 0) {
      this.ring.push(eventBatchRecord(entry.index, entry.term, entry.stampedAt, events));
    }
  }

  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }

  restore(data: Uint8Array): void {
    this.inner.restore(data);
    this.ring.reset(this.inner.appliedIndex);
  }

  digest(): string {
    return this.inner.digest();
  }

  get appliedIndex(): number {
    return this.inner.appliedIndex;
  }
}
