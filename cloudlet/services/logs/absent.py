"""Resources that cannot exist here yet, answered truthfully: listings are empty, and reading,
changing or deleting one by id answers AWS's error for a missing one.

- log anomaly detectors: CreateLogAnomalyDetector is not implemented (no anomaly detection);
- deliveries, delivery sources and delivery destinations (vended logs of other AWS services):
  PutDeliverySource and friends are not implemented.
"""

from __future__ import annotations

from .groups import ResourceNotFoundException

ANOMALY_DETECTOR_NOT_FOUND = "The specified anomaly detector does not exist."
DELIVERY_NOT_FOUND = "Requested Delivery does not exist in this account."
DELIVERY_SOURCE_NOT_FOUND = "Requested Delivery Source does not exist in this account."
DELIVERY_DESTINATION_NOT_FOUND = "Requested Delivery Destination does not exist in this account."


def list_log_anomaly_detectors(params: dict) -> dict:
    return {"anomalyDetectors": []}


def missing_anomaly_detector(params: dict) -> dict:
    """GetLogAnomalyDetector, UpdateLogAnomalyDetector, DeleteLogAnomalyDetector."""
    raise ResourceNotFoundException(ANOMALY_DETECTOR_NOT_FOUND)


def describe_deliveries(params: dict) -> dict:
    return {"deliveries": []}


def describe_delivery_sources(params: dict) -> dict:
    return {"deliverySources": []}


def describe_delivery_destinations(params: dict) -> dict:
    return {"deliveryDestinations": []}


def missing_delivery(params: dict) -> dict:
    raise ResourceNotFoundException(DELIVERY_NOT_FOUND)


def missing_delivery_source(params: dict) -> dict:
    raise ResourceNotFoundException(DELIVERY_SOURCE_NOT_FOUND)


def missing_delivery_destination(params: dict) -> dict:
    raise ResourceNotFoundException(DELIVERY_DESTINATION_NOT_FOUND)

