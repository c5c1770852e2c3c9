"""Labels every container and adds one environment variable."""

from __future__ import annotations

from pyctr import hookimpl


@hookimpl
def pyctr_modify_container_spec(spec):
    spec.labels.setdefault("org.pyctr.example", "yes")
    spec.env.append("PYCTR_EXAMPLE=1")


@hookimpl
def pyctr_report_status():
    return [("Example plugin", "active")]
