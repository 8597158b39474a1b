// Tests for SocaiAudit.
