import { databaseSection, serviceBaseSchema } from "../../platform/config-schema.ts";

export const messageConfigSchema = serviceBaseSchema.extend({ database: databaseSection });
