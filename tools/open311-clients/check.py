#!/usr/bin/env python3
"""Published Open311 GeoReport v2 clients against a gridwall server (BASE is its
`http://host:port/open311/v2`), as an integrator would use them:

* civicbot 0.4.0 files a request the way it files them anywhere: it reads the live service
  list and definition, checks the attributes against them (and refuses one that lacks a
  required attribute before sending), then posts the form and reads the request back (JSON).
* georeport 0.3.1 reads every method in JSON and in XML (xmltodict): services, a service
  definition, the request list and one request.

Prints one JSON object (what each client read, normalised: XML's strings and JSON's numbers
and booleans as text) for server/tests/open311_clients.rs to compare.

Usage: check.py BASE LAT LONG JURISDICTION
"""
import json
import sys

from civicbot.open311 import Open311Client, ValidationError
from civicbot.registry import Endpoint
from georeport import GeoReport

base, lat, lon, jurisdiction = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
out = {}


def text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


civic = Open311Client(
    Endpoint(id="gridwall", name="gridwall", base_url=base, write=True, api_key_required_for_write=False),
    jurisdiction_id=jurisdiction,
    fmt="json",
)
try:
    civic.create_request("manhole_damage", dry_run=True, validate_remote=True, lat=lat, lng=lon,
                         attributes={"cover_type": "sewage"})
    out["civicbot_refused"] = []
except ValidationError as e:
    out["civicbot_refused"] = e.problems
sent = civic.create_request(
    "manhole_damage", dry_run=False, confirm="SEND", validate_remote=True, lat=lat, lng=lon,
    description="井盖缺失 <已两天> & 无警示", attributes={"cover_type": "sewage", "fault": "missing"},
    email="someone@example.org", first_name="不存", last_name="个人信息",
)
created = as_list(sent.response)[0]["service_request_id"]
back = civic.get_request(created)
out["civicbot"] = {"created": text(created), "service_code": back["service_code"],
                   "description": back["description"], "status": back["status"]}

for fmt in ("json", "xml"):
    g = GeoReport(base, jurisdiction=jurisdiction, output_format=fmt)
    services = as_list(g.get_service_list())
    definition = g.get_service_definition("manhole_damage")
    if fmt == "xml":
        definition = definition.get("service_definition", definition)
        attributes = as_list((definition.get("attributes") or {}).get("attribute"))
        for a in attributes:
            a["values"] = as_list((a.get("values") or {}).get("value"))
    else:
        attributes = definition["attributes"]
    requests = as_list(g.get_service_requests())
    one = g.get_service_request(text(created))
    out[fmt] = {
        "services": [[s["service_code"], s["service_name"], text(s["metadata"])] for s in services],
        "definition": [
            [a["code"], a["datatype"], text(a["required"]), text(a["order"]), a["description"],
             [[text(v["key"]), v["name"]] for v in a["values"]]]
            for a in attributes
        ],
        "requests": sorted(text(r["service_request_id"]) for r in requests),
        "one": {k: text(one.get(k)) for k in
                ("service_request_id", "service_code", "service_name", "status", "description",
                 "lat", "long", "requested_datetime", "agency_responsible", "status_notes")},
    }
print(json.dumps(out, ensure_ascii=False))
