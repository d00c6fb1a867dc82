import { databaseSection, listsSection, serviceBaseSchema } from "../../platform/config-schema.ts";

export const relationConfigSchema = serviceBaseSchema.extend({ database: databaseSection, lists: listsSection });
