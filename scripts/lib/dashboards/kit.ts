// What every dzug dashboard is made of (@grafana/grafana-foundation-sdk): the data source, the namespace
// variable and label variables, label matchers, and panel builders that size themselves (span/height) and let
// the DashboardBuilder place them row after row, so a panel is added by one withPanel and no coordinates.
import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import {
  DashboardBuilder,
  DatasourceVariableBuilder,
  type Panel,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanelBuilder } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeseriesPanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana (not JS) interpolates the data source variable.
export const DS = { type: "prometheus", uid: "${datasource}" };

/** Grafana's rate window: at least four scrape intervals, wider when zoomed out (never a fixed [1m]). */
export const RATE = "$__rate_interval";

/** A label matcher list on template variables, e.g. sel("namespace", "service") -> namespace=~"$namespace", … */
export function sel(...variables: string[]): string {
  return variables.map((v) => `${v}=~"$${v}"`).join(", ");
}

export function query(expr: string, legend: string, refId = "A"): DataqueryBuilder {
  return new DataqueryBuilder().datasource(DS).expr(expr).legendFormat(legend).refId(refId);
}

/** A time series panel `w` of 24 columns wide and `h` rows high. */
export function timeseries(title: string, description: string, unit: string, w = 12, h = 9): TimeseriesPanelBuilder {
  return new TimeseriesPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .min(0)
    .lineWidth(1)
    .fillOpacity(10)
    .span(w)
    .height(h)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Right)
        .showLegend(true)
        .calcs(["mean", "lastNotNull", "max"]),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending),
    );
}

export function stat(title: string, description: string, unit: string, w = 6, h = 9): StatPanelBuilder {
  return new StatPanelBuilder()
    .title(title)
    .description(description)
    .datasource(DS)
    .unit(unit)
    .span(w)
    .height(h)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area);
}

/** A multi-value variable of `label`'s values on `metric` (filtered by `filter`, e.g. sel("namespace")). */
export function labelVariable(name: string, label: string, metric: string, filter = ""): QueryVariableBuilder {
  const definition = `label_values(${metric}${filter ? `{${filter}}` : ""}, ${name})`;
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(DS)
    .query({ query: definition, refId: "PrometheusVariableQueryEditor-VariableQuery" })
    .definition(definition)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(".*");
}

/** A titled row of panels; a dashboard is a list of them. */
export interface Row {
  title: string;
  panels: cog.Builder<Panel>[];
}

/**
 * A dashboard with the variables every dzug dashboard has: the Prometheus data source and the Kubernetes
 * namespace (the `namespace` target label the chart's monitors give every series; one namespace per release).
 * `metric` lists the namespaces; `variables` come after it; then each row with its panels, laid out in order.
 */
export function dzugDashboard(d: {
  title: string;
  uid: string;
  description: string;
  tags: string[];
  metric: string;
  variables?: QueryVariableBuilder[];
  rows: Row[];
}): DashboardBuilder {
  const b = base(d.title, d.uid, d.description, d.tags, d.metric);
  for (const v of d.variables ?? []) b.withVariable(v);
  for (const row of d.rows) {
    b.withRow(new RowBuilder(row.title));
    for (const p of row.panels) b.withPanel(p);
  }
  return b;
}

function base(title: string, uid: string, description: string, tags: string[], metric: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(["dzug", ...tags, "generated"])
    .editable()
    .refresh("10s")
    .time({ from: "now-30m", to: "now" })
    .timezone("browser")
    .withVariable(new DatasourceVariableBuilder("datasource").label("Data source").type("prometheus"))
    .withVariable(labelVariable("namespace", "Namespace", metric));
}

/**
 * A counter's events in the trailing `window` when its series are born with their first event (prom-client
 * exports a label set from its first increment, so increase() alone misses that event): series older than the
 * window count their increase, younger ones (and ones that have died since) their highest value.
 */
export function eventsIn(series: string, window: string): string {
  return `(increase(${series}[${window}]) and ${series} offset ${window}) or (max_over_time(${series}[${window}]) unless ${series} offset ${window})`;
}
