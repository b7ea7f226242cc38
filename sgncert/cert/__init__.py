"""Certificates: the document model and its JSON Schema, building a certificate from a
certification, reading certificate files, and verifying every claim independently."""

from .load import load_certificate as load_certificate
from .load import parse_certificate as parse_certificate
from .model import json_schema as json_schema
from .model import validate_document as validate_document
from .report import Check as Check
from .report import VerifyReport as VerifyReport
from .verify import verify_certificate as verify_certificate
