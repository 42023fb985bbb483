/**
 * The receive half of delivery: where frames that another process published for one of this
 * process's gateway nodes come back in. A delivery goes to the node's sessions, a kick closes the
 * node's older sessions of a device, a canary proves the node's subscription is alive. The send
 * half (admission, commit, fan-out, publishing) is messenger.ts.
 */
import { type CanaryMessage, type ClusterMessage, decodeClusterMessage } from "../cluster/cluster-protocol.js";
import type { MessageBus } from "../cluster/message-bus.js";
import type { SwitchboardMetrics } from "../metrics/metrics.js";
import { ReasonCode } from "../protocol/constants.js";
import type { Logger } from "../util/logger.js";
import type { LocalNode } from "./messenger.js";

export interface BusInboxOptions {
  bus: MessageBus;
  metrics: SwitchboardMetrics;
  logger: Logger;
}

export class BusInbox {
  constructor(private readonly o: BusInboxOptions) {}

  /** Subscribes `node` to its frames on the bus; canaries go to `onCanary`. */
  async attach(node: LocalNode, onCanary: (msg: CanaryMessage) => void): Promise<void> {
    await this.o.bus.subscribe(node.id, (frame) => {
      let msg: ClusterMessage;
      try {
        msg = decodeClusterMessage(frame);
      } catch (err) {
        this.o.logger.warn({ err, node: node.id }, "dropped a bad frame from the bus");
        return;
      }
      if (msg.type === "canary") onCanary(msg);
      else this.receive(node, msg);
    });
  }

  /** A delivery or kick for `node` (also called directly in tests). */
  receive(node: LocalNode, msg: ClusterMessage): void {
    this.o.metrics.busFrames.inc({ direction: "in", kind: msg.type });
    if (msg.type === "deliver") {
      // A broadcast frame names the nodes that delivered it locally already.
      if (msg.skipNodes?.includes(node.id)) return;
      const { type: _t, uids, all: _a, skipNodes: _s, ...message } = msg;
      node.deliverLocal(uids, message);
    } else if (msg.type === "kick") {
      node.kickLocal(
        { nodeId: node.id, uid: msg.uid, deviceFlag: msg.deviceFlag, exceptEpoch: msg.exceptEpoch },
        ReasonCode.ConnectKick,
        msg.reason,
      );
    }
  }
}
