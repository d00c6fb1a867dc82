// Preload for a gateway variant (`node --import ./bench/lib/no-channelz.ts gateway/main.ts`): turns
// grpc-js channelz off on the discovery pool's channels by adding `grpc.enable_channelz: 0` to
// platform/discovery's defaultChannelOptions before any pool copies them. Used by bench/gateway.ts to
// measure what channelz costs the gateway without changing the product.
import { defaultChannelOptions } from "../../platform/discovery/pool.ts";

(defaultChannelOptions as Record<string, unknown>)["grpc.enable_channelz"] = 0;
