// The gateway process (docs/architecture.md): `node gateway/main.ts`.
import { runGatewayMain } from "./server.ts";

await runGatewayMain();
