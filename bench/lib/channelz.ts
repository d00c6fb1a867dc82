// Preload for gateway variants (`node --import ./bench/lib/channelz.ts gateway/main.ts`): sets grpc-js
// channelz on the discovery pool's channels from BENCH_CHANNELZ (`off`: `grpc.enable_channelz: 0`;
// `on`: the option removed, i.e. grpc-js' default, channelz on) by editing platform/discovery's
// defaultChannelOptions before any pool copies them. Lets bench/gateway.ts measure what channelz costs
// the gateway without changing the product.
import { defaultChannelOptions } from "../../platform/discovery/balancing/pool.ts";

const opts = defaultChannelOptions as Record<string, unknown>;
if (process.env.BENCH_CHANNELZ === "off") opts["grpc.enable_channelz"] = 0;
else if (process.env.BENCH_CHANNELZ === "on") delete opts["grpc.enable_channelz"];
