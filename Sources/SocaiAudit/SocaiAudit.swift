/// The auditor's tools: chain export, replay from the genesis file alone, consent audits.
public enum SocaiAuditModule {}
