import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import {
  agentDurableName,
  WORK_CONSUMER_DEFAULTS,
  WORK_STREAM,
  workPoolFilter,
} from "@tessera/protocol";
import { MessagingError } from "./errors.js";
import { withTransientRetry } from "./transient.js";

export interface DurableConsumerOptions {
  stream: string;
  durable: string;
  /** Only messages on this subject (wildcards allowed). */
  filterSubject?: string;
  /** How long a delivered message may stay un-acked before redelivery (default 30 s). */
  ackWaitMs?: number;
  /** Deliveries before the server gives up on a message (default 20). */
  maxDeliver?: number;
  /** Upper bound on un-acked messages across all pullers (default 1000). */
  maxAckPending?: number;
}

const CONSUMER_NOT_FOUND = 10014;

/** The consumer config for these options (pure). */
export function durableConsumerConfig(o: DurableConsumerOptions): Partial<ConsumerConfig> {
  return {
    durable_name: o.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(o.ackWaitMs ?? WORK_CONSUMER_DEFAULTS.ackWaitMs),
    max_deliver: o.maxDeliver ?? WORK_CONSUMER_DEFAULTS.maxDeliver,
    max_ack_pending: o.maxAckPending ?? 1000,
    ...(o.filterSubject ? { filter_subject: o.filterSubject } : {}),
  };
}

/** The shared durable every agent of `pool` pulls from (`agents-<pool>` on TESSERA_WORK). */
export function workConsumerOptions(
  pool: string,
  overrides: Partial<DurableConsumerOptions> = {},
): DurableConsumerOptions {
  return {
    stream: WORK_STREAM.name,
    durable: agentDurableName(pool),
    filterSubject: workPoolFilter(pool),
    ...overrides,
  };
}

/**
 * Create the durable pull consumer, or update it in place when its ack wait / max deliver /
 * max ack pending differ. A filter-subject change cannot be applied on nats-server 2.9 and
 * is reported as a MessagingError naming the consumer.
 */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  o: DurableConsumerOptions,
): Promise<ConsumerInfo> {
  const desired = durableConsumerConfig(o);
  let current: ConsumerInfo | undefined;
  try {
    current = await withTransientRetry(() => jsm.consumers.info(o.stream, o.durable));
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === CONSUMER_NOT_FOUND)) {
      throw new MessagingError(
        "TESSERA_E_MESSAGING_PROVISION",
        `consumer ${o.stream}/${o.durable}: cannot read its info: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  try {
    if (!current) {
      // Losing a creation race to another process (agents start together) is success.
      return await jsm.consumers
        .add(o.stream, desired)
        .catch((err: unknown) =>
          jsm.consumers.info(o.stream, o.durable).catch(() => Promise.reject(err)),
        );
    }
    const c = current.config;
    if ((c.filter_subject ?? "") !== (desired.filter_subject ?? "")) {
      throw new MessagingError(
        "TESSERA_E_MESSAGING_PROVISION",
        `consumer ${o.stream}/${o.durable} exists with filter ${JSON.stringify(c.filter_subject ?? "")}, want ${JSON.stringify(desired.filter_subject ?? "")}; delete it to change the filter`,
      );
    }
    if (
      c.ack_wait === desired.ack_wait &&
      c.max_deliver === desired.max_deliver &&
      c.max_ack_pending === desired.max_ack_pending
    ) {
      return current;
    }
    return await jsm.consumers.update(o.stream, o.durable, {
      ack_wait: desired.ack_wait,
      max_deliver: desired.max_deliver,
      max_ack_pending: desired.max_ack_pending,
    });
  } catch (err) {
    if (err instanceof MessagingError) throw err;
    throw new MessagingError(
      "TESSERA_E_MESSAGING_PROVISION",
      `consumer ${o.stream}/${o.durable}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
