// Tests for SocaiDID.
