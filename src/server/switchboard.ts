import type { AssignmentStrategy } from "../cluster/assignment.js";
import { BusCanary } from "../cluster/bus-canary.js";
import { NodeDirectory } from "../cluster/node-directory.js";
import { directoryLiveness } from "../cluster/presence-common.js";
import { createStrategy } from "../cluster/strategies.js";
import type { ServeOptions } from "../config/options.js";
import { GatewayNode } from "../gateway/gateway-node.js";
import { loadOrCreateCertificate } from "../gateway/tls.js";
import { BusInbox } from "../messaging/bus-inbox.js";
import { Messenger } from "../messaging/messenger.js";
import { SwitchboardMetrics } from "../metrics/metrics.js";
import { createRouterApp } from "../router/app.js";
import { UserAssigner } from "../router/assigner.js";
import { withApiKey } from "../router/auth.js";
import { channelRoutes } from "../router/channel.js";
import { cimErrorResponse, cimRoutes } from "../router/cim.js";
import { conversationRoutes } from "../router/conversation.js";
import { dashboardRoutes } from "../router/dashboard.js";
import { type HttpServerHandle, startHttpServer } from "../router/http-server.js";
import { messageRoutes } from "../router/message.js";
import { metricsRoutes } from "../router/metrics.js";
import { type HealthCheck, nodeRoutes } from "../router/nodes.js";
import { pushRoutes } from "../router/push.js";
import { routeRoutes } from "../router/route.js";
import { userRoutes } from "../router/user.js";
import type { Logger } from "../util/logger.js";
import { silentLogger } from "../util/logger.js";
import { type ResolvedApiKey, resolveApiKey } from "./api-key.js";
import { type Backends, createBackends } from "./backends.js";
import { Webhook } from "./webhook.js";

export interface Switchboard {
  readonly options: ServeOptions;
  /** Base URL of the router HTTP API, e.g. http://127.0.0.1:5001 */
  readonly apiUrl: string;
  readonly apiPort: number;
  readonly nodes: GatewayNode[];
  readonly backends: Backends;
  readonly messenger: Messenger;
  readonly directory: NodeDirectory;
  readonly strategy: AssignmentStrategy;
  /** The key server-side endpoints need, and where it came from. */
  readonly apiKey: ResolvedApiKey;
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}

/**
 * Starts everything one process runs: the router API and its gateway nodes, over the backends
 * the options name. `npm start` runs this with defaults: 2 nodes, memory cluster, SQLite.
 */
export async function startSwitchboard(options: ServeOptions, logger: Logger = silentLogger): Promise<Switchboard> {
  const backends = await createBackends(options, logger);
  const cleanups: (() => unknown)[] = [() => backends.close()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err) => logger.warn({ err }, "shutdown step failed"));
  };
  try {
    const { store, registry, presence, bus } = backends;
    const tls = loadOrCreateCertificate({
      dataDir: options.dataDir,
      certPath: options.tlsCert,
      keyPath: options.tlsKey,
      hostnames: [options.externalHost, options.intranetHost],
    });
    const metrics = new SwitchboardMetrics({ processMetrics: true, storeAvailable: () => backends.storeHealth.available });
    const webhook = options.webhookUrl ? new Webhook({ url: options.webhookUrl, logger: logger.child({ part: "webhook" }) }) : undefined;
    if (webhook) cleanups.push(() => webhook.close());
    const messenger = new Messenger({
      store,
      presence,
      bus,
      mode: options.deliveryMode,
      broadcastAbove: options.broadcastAbove,
      storeTimeoutMs: options.storeTimeoutMs,
      metrics,
      observer: webhook,
      logger: logger.child({ part: "messenger" }),
    });
    // Frames other processes publish for this process's nodes come back in here.
    const inbox = new BusInbox({ bus, metrics, logger: logger.child({ part: "bus-inbox" }) });
    const directory = new NodeDirectory({ registry, logger });
    await directory.start();
    // A binding is live while its node's run is in the registry: no per-binding refresh.
    presence.setNodeLiveness(directoryLiveness(directory));
    cleanups.push(() => directory.stop());
    // A node that left (clean stop or TTL expiry) takes its users' presence with it.
    const unwatch = registry.watch((event) => {
      if (event.type === "leave") presence.removeNode(event.nodeId).catch((err) => logger.warn({ err }, "presence cleanup failed"));
    });
    cleanups.push(unwatch);

    const strategy = createStrategy(options.strategy);
    const assigner = new UserAssigner({ directory, presence, strategy });
    const healthChecks: HealthCheck[] = [];
    let boundApiPort = 0;
    const apiKey = resolveApiKey(options.apiKey, options.dataDir);
    const cimLogger = logger.child({ part: "router.cim" });
    const protectedRoutes = (app: ReturnType<typeof routeRoutes>) => withApiKey(app, apiKey.key, store);
    const app = createRouterApp(
      [
        routeRoutes(assigner, options.routeBatchLimit),
        nodeRoutes(directory, Date.now(), healthChecks, () => backends.storeHealth.status()),
        metricsRoutes(metrics),
        dashboardRoutes(directory, metrics),
        protectedRoutes(userRoutes(store, presence, messenger)),
        protectedRoutes(messageRoutes(messenger, options.maxFrameBytes)),
        protectedRoutes(channelRoutes(store, messenger)),
        protectedRoutes(conversationRoutes(store)),
        protectedRoutes(pushRoutes(messenger, presence, options.maxFrameBytes)),
        // All of CIM's endpoints, /registerAccount and /login too: CIM has no passwords, so an open
        // /login would hand anyone a connect token for any known user (see router/cim.ts).
        withApiKey(
          cimRoutes({ store, presence, messenger, assigner, apiPort: () => boundApiPort, logger: cimLogger }),
          apiKey.key,
          store,
          (err, c) => cimErrorResponse(err, c, cimLogger),
        ),
      ],
      logger.child({ part: "router" }),
      metrics,
    );
    const http: HttpServerHandle = await startHttpServer(app, options.apiHost, options.apiPort);
    boundApiPort = http.port;
    cleanups.push(() => http.close());
    const apiUrl = `http://${hostForUrl(options.intranetHost)}:${http.port}`;

    const count = options.nodeId ? 1 : options.nodes;
    const nodes: GatewayNode[] = [];
    for (let i = 0; i < count; i++) {
      const port = (base: number) => (base === 0 ? 0 : base + i);
      const node = new GatewayNode({
        id: options.nodeId ?? `node-${i + 1}`,
        addresses: {
          bindHost: options.bindHost,
          tcpPort: port(options.tcpPort),
          wsPort: port(options.wsPort),
          wssPort: port(options.wssPort),
          externalHost: options.externalHost,
          intranetHost: options.intranetHost,
        },
        apiUrl,
        tls,
        limits: {
          tokenAuth: options.tokenAuth,
          allowPlaintext: options.allowPlaintext,
          maxFrameBytes: options.maxFrameBytes,
          sendRate: options.sendRate,
          maxWriteBufferBytes: options.maxWriteBufferBytes,
          maxConnections: options.maxConnections,
          idleTimeoutMs: options.idleTimeoutMs,
        },
        allowedOrigins: options.allowedOrigins,
        tokens: store,
        presence,
        registry,
        bus,
        messenger,
        metrics,
        onlineObserver: webhook,
        logger,
      });
      const canary = new BusCanary({ bus, nodeId: node.id, logger });
      await inbox.attach(node, (msg) => canary.onCanary(msg));
      await node.start();
      nodes.push(node);
      cleanups.push(() => node.stop());
      canary.start();
      cleanups.push(() => canary.stop());
      healthChecks.push({
        name: `${node.id} bus`,
        ok: () => canary.healthy,
        detail: () => `last canary back ${Math.round(canary.silenceMs / 1000)} s ago`,
      });
    }
    await directory.resync();
    logger.info({ api: apiUrl, nodes: nodes.map((n) => n.info().external), backends: backends.describe }, "switchboard started");
    return {
      options,
      apiUrl,
      apiPort: http.port,
      nodes,
      backends,
      messenger,
      directory,
      strategy,
      apiKey,
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
