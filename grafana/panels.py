"""How the dashboards' panels look and link: units, thresholds and colours of a field, a table's
series merged into one sorted table, links to the board and to the other dashboards, and the
annotation query that marks recommendations. What each panel queries is in ``dashboards.py``."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.builders.common import TableSortByFieldState
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from grafana.queries import DATASOURCE

ASSET_UID = "forestall-asset"  # where a row of an asset drills down to
TAG = "forestall"  # every dashboard carries it; the dashboards' links list the others by it

# The board's address as the provisioned files hold it: Grafana expands no environment variable
# in dashboard JSON (only in provisioning YAML), so grafana/entrypoint.sh puts
# $FORESTALL_BOARD_URL in its place before Grafana starts (grafana/README.md).
BOARD_URL_PLACEHOLDER = "${FORESTALL_BOARD_URL}"


def steps(*pairs: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``(None, base colour), (value, colour from there on), …``."""
    return (
        db.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in pairs])
    )


def field(unit: str, thresholds: db.ThresholdsConfig | None = None, name: str = "") -> list[Any]:
    """A field's unit, display name and, with thresholds, its cell coloured by them."""
    out = [model.DynamicConfigValue(id_val="unit", value=unit)]
    if name:
        out.append(model.DynamicConfigValue(id_val="displayName", value=name))
    if thresholds is not None:
        out.append(model.DynamicConfigValue(id_val="thresholds", value=thresholds.build()))
        out.append(model.DynamicConfigValue(id_val="color", value={"mode": "thresholds"}))
        out.append(model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}))
    return out


def merged(panel: table.Panel, sort_field: str, descending: bool) -> table.Panel:
    """One table of every series (InfluxDB answers one frame per group), sorted by ``sort_field``."""
    return panel.with_transformation(model.DataTransformerConfig(id_val="merge", options={})).sort_by(
        [TableSortByFieldState().display_name(sort_field).desc(descending)]
    )


def board_link(link: str) -> db.DashboardLink:
    """A row's value (``customer`` or ``asset``) opened on the dispatcher board."""
    return (
        db.DashboardLink(f"Open the {link} on the dispatcher board")
        .url(f"${{board}}/?{link}=${{__data.fields.{link}}}")
        .target_blank(True)
    )


def asset_drilldown() -> db.DashboardLink:
    """A row's asset on the Asset dashboard, with the tenant and time range the row was read in."""
    return db.DashboardLink("Show the asset's dashboard").url(
        f"/d/{ASSET_UID}/forestall-asset?${{tenant:queryparam}}&var-asset=${{__data.fields.asset}}"
        "&${__url_time_range}"
    )


def other_dashboards() -> db.DashboardLink:
    """The dashboard bar's links to every other Forestall dashboard, keeping time and variables."""
    return (
        db.DashboardLink("Forestall")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
    )


class InfluxAnnotation(model.AnnotationQuery):
    """An InfluxQL annotation query (the SDK's annotation target has no InfluxDB fields): each
    row a marker at its time, ``text`` and ``tags`` from the columns named."""

    def __init__(self, name: str, query: str, text: str, tags: str, colour: str) -> None:
        super().__init__(name=name, datasource=DATASOURCE, enable=True, icon_color=colour)
        self.query, self.text_column, self.tags_column = query, text, tags

    def to_json(self) -> dict[str, object]:
        out = super().to_json()
        columns = {"textColumn": self.text_column, "tagsColumn": self.tags_column, "titleColumn": ""}
        out["target"] = {
            "refId": "Anno",
            "query": self.query,
            "rawQuery": True,
            "resultFormat": "table",
            "fromAnnotations": True,
            **columns,
        }
        return {**out, "query": self.query, **columns}  # the fields as Grafana 8 and earlier kept them


class InfluxAnnotationBuilder(cogbuilder.Builder[model.AnnotationQuery]):
    def __init__(self, annotation: InfluxAnnotation) -> None:
        self._annotation = annotation

    def build(self) -> model.AnnotationQuery:
        return self._annotation
