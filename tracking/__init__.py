"""Live geolocation core: decoding, the position pipeline, tracks, stops and alerts.

Plain Python (no Flask, no SQL): ``server`` feeds it decoded requests and stored history and
persists what it returns.
"""

from tracking.decoders import (
    DecodeError,
    DeviceMessage,
    decode_batch,
    decode_fix,
    decode_osmand_json,
    decode_osmand_query,
    decode_owntracks,
    parse_timestamp,
)
from tracking.geo import haversine_m
from tracking.pipeline import (
    Discard,
    DiscardReason,
    Outcome,
    PipelineContext,
    PipelineSettings,
    ProcessedFix,
    ShiftWindow,
    TrackState,
    run_pipeline,
)
from tracking.position import FilterReason, Position
from tracking.status import (
    Alert,
    AlertKind,
    Anchor,
    Assessment,
    CollectorStatus,
    PlannedStop,
    PlanSummary,
    Progress,
    Situation,
    StatusSettings,
    advance_anchor,
    assess,
    summarize_plan,
)
from tracking.track import Stop, detect_stops, track_distance_m, track_geojson, track_gpx
from tracking.verification import (
    GeoStatus,
    GeoVerification,
    photo_gps,
    verify_location,
    verify_photo,
)
from tracking.zones import ZoneIndex

__all__ = [
    "Alert",
    "AlertKind",
    "Anchor",
    "Assessment",
    "CollectorStatus",
    "DecodeError",
    "DeviceMessage",
    "Discard",
    "DiscardReason",
    "FilterReason",
    "GeoStatus",
    "GeoVerification",
    "Outcome",
    "PipelineContext",
    "PipelineSettings",
    "PlanSummary",
    "PlannedStop",
    "Position",
    "ProcessedFix",
    "Progress",
    "ShiftWindow",
    "Situation",
    "StatusSettings",
    "Stop",
    "TrackState",
    "ZoneIndex",
    "advance_anchor",
    "assess",
    "decode_batch",
    "decode_fix",
    "decode_osmand_json",
    "decode_osmand_query",
    "decode_owntracks",
    "detect_stops",
    "haversine_m",
    "parse_timestamp",
    "photo_gps",
    "run_pipeline",
    "summarize_plan",
    "track_distance_m",
    "track_geojson",
    "track_gpx",
    "verify_location",
    "verify_photo",
]
