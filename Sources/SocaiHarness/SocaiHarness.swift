/// The multi-node test harness and the seeded consensus simulation swarm.
public enum SocaiHarnessModule {}
