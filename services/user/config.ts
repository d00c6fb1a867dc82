import { authSection, databaseSection, serviceBaseSchema } from "../../platform/config-schema.ts";

export const userConfigSchema = serviceBaseSchema.extend({ database: databaseSection, auth: authSection });
