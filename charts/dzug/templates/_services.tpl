{{/*
The gRPC services of the chart, listed once: every folder of services/ with a main.ts
(scripts/lib/services.ts; tests/chart/chart.test.ts compares them). `npm run new:service` adds a name here.
Use: include "dzug.grpcServices" $ | fromJsonArray
*/}}
{{- define "dzug.grpcServices" -}}
["user", "relation", "message"]
{{- end -}}
