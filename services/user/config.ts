import { z } from "zod";
import { authSection, databaseSection, serviceBaseSchema } from "../../platform/config-schema.ts";

/**
 * Password hashing (argon2id, 19 MiB, on libuv's thread pool) is the costly part of register and
 * login: at most `maxConcurrent` run, `maxQueued` wait, and beyond that a call fails fast with
 * RESOURCE_EXHAUSTED (HTTP 503) instead of queueing without bound.
 */
export const passwordsSection = z
  .strictObject({
    maxConcurrent: z.number().int().min(1).max(64).default(2),
    maxQueued: z.number().int().min(0).max(10_000).default(16),
    /**
     * Waiting checks of one client (the gateway's grouped address) at most: the queue is served one
     * client at a time in turn (platform/bulkhead.ts), and one client cannot fill it.
     */
    maxQueuedPerClient: z.number().int().min(1).max(10_000).default(2),
  })
  .prefault({});

export const userConfigSchema = serviceBaseSchema.extend({
  database: databaseSection,
  auth: authSection,
  passwords: passwordsSection,
});
