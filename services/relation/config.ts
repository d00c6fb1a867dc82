import { z } from "zod";
import { databaseSection, serviceBaseSchema } from "../../platform/config-schema.ts";

/** Follow, follower and friend lists (docs/storage.md: lists of any size). */
export const listsSection = z
  .strictObject({
    /**
     * The most entries one list answers: beyond it, the newest `maxLength` relations (lists are newest
     * first). Bounds the memory and size of one answer (~200 bytes an entry through the gateway).
     */
    maxLength: z.number().int().min(1).max(1_000_000).default(100_000),
  })
  .prefault({});

export const relationConfigSchema = serviceBaseSchema.extend({ database: databaseSection, lists: listsSection });
