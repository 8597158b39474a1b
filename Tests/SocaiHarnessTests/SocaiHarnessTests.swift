// Tests for SocaiHarness.
