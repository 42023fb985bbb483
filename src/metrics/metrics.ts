/**
 * The process's Prometheus metrics (prom-client), one registry per Switchboard so tests and
 * several instances in one process never share counters. Components take it as an option; the
 * hot paths only increment counters — gauges that need counting are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { ReasonCode } from "../protocol/constants.js";

/** What the connection gauge reads at scrape time. */
export interface ConnectionSource {
  id: string;
  connectionsByTransport(): Record<string, number>;
}

export interface MetricsSnapshot {
  messagesIn: number;
  messagesOut: number;
  recvAcks: number;
  recvResends: number;
  busIn: number;
  busOut: number;
  /** Messages fanned out and the recipients they had (average fan-out = recipients / messages). */
  fanOutMessages: number;
  fanOutRecipients: number;
  /** Store batches and the time they took (average latency = seconds / batches). */
  storeBatches: number;
  storeSeconds: number;
  disconnects: number;
}

const reasonNames = new Map<number, string>(Object.entries(ReasonCode).map(([name, code]) => [code as number, name]));

/** A reason code's WuKongIM name ("AuthFail"), or the number when it has none. */
export function reasonName(code: number): string {
  return reasonNames.get(code) ?? String(code);
}

export class SwitchboardMetrics {
  readonly registry = new Registry();
  private readonly sources = new Set<ConnectionSource>();

  /** Messages accepted for storage, by where they came from. */
  readonly messagesIn = new Counter({
    name: "switchboard_messages_in_total",
    help: "Messages sent by clients (gateway) or the server API (http), counted once stored or refused",
    labelNames: ["source", "result"] as const,
    registers: [this.registry],
  });
  /** RECV frames written to client connections (first sends, not resends). */
  readonly messagesOut = new Counter({
    name: "switchboard_messages_out_total",
    help: "RECV frames written to client connections",
    labelNames: ["node"] as const,
    registers: [this.registry],
  });
  readonly recvAcks = new Counter({ name: "switchboard_recvacks_total", help: "RECVACKs received", registers: [this.registry] });
  readonly recvResends = new Counter({
    name: "switchboard_recv_resends_total",
    help: "RECV frames resent because no RECVACK came in time",
    registers: [this.registry],
  });
  /** Recipients a stored message was fanned out to, per message. */
  readonly fanOut = new Histogram({
    name: "switchboard_fanout_recipients",
    help: "Recipients (users) per dispatched message",
    buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000],
    registers: [this.registry],
  });
  readonly storeLatency = new Histogram({
    name: "switchboard_store_append_seconds",
    help: "Time to store one batch of messages (group commit)",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly storeBatchSize = new Histogram({
    name: "switchboard_store_batch_messages",
    help: "Messages per stored batch",
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 512],
    registers: [this.registry],
  });
  readonly busFrames = new Counter({
    name: "switchboard_bus_frames_total",
    help: "Frames between nodes, by direction and kind",
    labelNames: ["direction", "kind"] as const,
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: "switchboard_http_requests_total",
    help: "Router API requests by route and status",
    labelNames: ["route", "status"] as const,
    registers: [this.registry],
  });
  readonly disconnects = new Counter({
    name: "switchboard_disconnects_total",
    help: "Connections the server closed, by WuKongIM reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean; storeAvailable?: () => boolean } = {}) {
    const sources = this.sources;
    const storeAvailable = options.storeAvailable;
    if (storeAvailable)
      new Gauge({
        name: "switchboard_store_available",
        help: "1 while the message store serves calls, 0 while it is unreachable or failing (sends answer store_unavailable)",
        registers: [this.registry],
        collect() {
          this.set(storeAvailable() ? 1 : 0);
        },
      });
    new Gauge({
      name: "switchboard_connections",
      help: "Open client connections by node and transport",
      labelNames: ["node", "transport"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of sources)
          for (const [transport, n] of Object.entries(s.connectionsByTransport())) this.set({ node: s.id, transport }, n);
      },
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "switchboard_" });
  }

  addConnectionSource(source: ConnectionSource): void {
    this.sources.add(source);
  }

  removeConnectionSource(source: ConnectionSource): void {
    this.sources.delete(source);
  }

  /** The exposition text for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Cumulative totals for the dashboard (rates are computed from two snapshots). */
  async snapshot(): Promise<MetricsSnapshot> {
    const json = await this.registry.getMetricsAsJSON();
    const sum = (name: string, suffix = "") => {
      const m = json.find((x) => x.name === name);
      if (!m) return 0;
      return (m.values as { value: number; metricName?: string }[])
        .filter((v) => (suffix ? v.metricName === name + suffix : v.metricName === undefined || v.metricName === name))
        .reduce((t, v) => t + v.value, 0);
    };
    return {
      messagesIn: sum("switchboard_messages_in_total"),
      messagesOut: sum("switchboard_messages_out_total"),
      recvAcks: sum("switchboard_recvacks_total"),
      recvResends: sum("switchboard_recv_resends_total"),
      busIn: await this.labelled("switchboard_bus_frames_total", { direction: "in" }),
      busOut: await this.labelled("switchboard_bus_frames_total", { direction: "out" }),
      fanOutMessages: sum("switchboard_fanout_recipients", "_count"),
      fanOutRecipients: sum("switchboard_fanout_recipients", "_sum"),
      storeBatches: sum("switchboard_store_append_seconds", "_count"),
      storeSeconds: sum("switchboard_store_append_seconds", "_sum"),
      disconnects: sum("switchboard_disconnects_total"),
    };
  }

  private async labelled(name: string, labels: Record<string, string>): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    return data.values
      .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
      .reduce((t, v) => t + v.value, 0);
  }

  /** A counter's or gauge's total over all its labels (dashboards and tests). */
  async total(name: string): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    return data.values.reduce((sum, v) => sum + v.value, 0);
  }
}
