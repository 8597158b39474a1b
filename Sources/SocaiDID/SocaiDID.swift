/// W3C DID Core documents and DID Resolution results for `did:socai` and `did:key`.
public enum SocaiDIDModule {}
