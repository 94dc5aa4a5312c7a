package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.w3c.dom.Element;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A {@link TrafficSwitch} that moves a Pacemaker IPaddr2 virtual IP (or a group holding one) between the source's and
 * the target's node. The VIP's place is one constraint pgmigrate owns, rewritten by one {@code cibadmin --modify}: a
 * location constraint with score INFINITY on a node, or a colocation with a resource (for example the PostgreSQL
 * primary of each side). So there is never a moment where the configuration asks for the VIP in two places: Pacemaker
 * stops it where it was and starts it where it is asked for, in one transition. {@code switchTo} returns once
 * Pacemaker reports the VIP started on the expected node and nowhere else; when that does not happen in time, it puts
 * the constraint back, waits for the VIP to return and throws, leaving traffic where it was.
 *
 * <pre>{@code
 * TrafficSwitch vip = PacemakerVip.builder("pg-vip")
 *         .source(PacemakerVip.Placement.node("old-db-1"))
 *         .target(PacemakerVip.Placement.node("new-db-1"))
 *         .build();
 * Migration.builder()...trafficSwitch(vip)...
 * }</pre>
 */
public final class PacemakerVip implements TrafficSwitch {

    private static final Logger LOG = LoggerFactory.getLogger(PacemakerVip.class);
    /** Exit code of the Pacemaker tools for "no such object". */
    static final int NO_SUCH_OBJECT = 105;
    /** Where the VIP must run for one side: on a node, or wherever a resource runs. */
    public record Placement(String node, String resource) {

        public Placement {
            if ((node == null) == (resource == null)) {
                throw new IllegalArgumentException("a placement names a node or a resource");
            }
            requireName(node == null ? resource : node, node == null ? "resource" : "node");
        }

        /** The VIP runs on {@code node}. */
        public static Placement node(String node) {
            return new Placement(node, null);
        }

        /** The VIP runs where {@code resource} runs (for example the PostgreSQL primary or its group). */
        public static Placement resource(String resource) {
            return new Placement(null, resource);
        }

        @Override
        public String toString() {
            return node != null ? "node " + node : "with resource " + resource;
        }
    }

    private final String vip;
    private final Placement source;
    private final Placement target;
    private final String constraintId;
    private final Duration startTimeout;
    private final Duration pollInterval;
    private final CommandRunner runner;

    private PacemakerVip(Builder b) {
        this.vip = b.vip;
        this.source = Objects.requireNonNull(b.source, "source placement is required: source(Placement.node(...))");
        this.target = Objects.requireNonNull(b.target, "target placement is required: target(Placement.node(...))");
        if ((source.node() == null) != (target.node() == null)) {
            throw new IllegalArgumentException("source and target placements must both name nodes or both name"
                    + " resources, so the move is one change of one constraint (source " + source + ", target "
                    + target + ")");
        }
        this.constraintId = b.constraintId != null ? b.constraintId : "pgmigrate-" + vip + "-placement";
        requireName(constraintId, "constraint id");
        this.startTimeout = b.startTimeout;
        this.pollInterval = b.pollInterval;
        this.runner = b.runner;
    }

    /** A switch for the VIP resource {@code vip} (an IPaddr2 primitive or a group holding it). */
    public static Builder builder(String vip) {
        return new Builder(vip);
    }

    @Override
    public void switchTo(Side side) {
        Placement want = side == Side.SOURCE ? source : target;
        Placement other = side == Side.SOURCE ? target : source;
        long started = System.nanoTime();
        apply(want);
        try {
            awaitStarted(want);
        } catch (PgMigrateException e) {
            LOG.warn("VIP {} did not start at {}; moving it back to {}", vip, want, other);
            try {
                apply(other);
                awaitStarted(other);
            } catch (PgMigrateException back) {
                e.addSuppressed(back);
            }
            throw e;
        }
        LOG.info("VIP {} started at {} in {} ms", vip, want, (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Puts pgmigrate's constraint where traffic is now, before the cutover, without moving anything: run it while
     * the VIP is on the source's node (it fails otherwise).
     */
    public void prepare() {
        List<String> nodes = locate(vip);
        String expected = nodeOf(source);
        if (!nodes.equals(List.of(expected))) {
            throw new PgMigrateException(PacemakerErrorCode.CLUSTER_COMMAND_FAILED, "VIP " + vip + " runs on " + nodes
                    + ", not on the source's node " + expected + "; move it there before preparing the switch");
        }
        apply(source);
    }

    /** The nodes Pacemaker reports the VIP running on now. */
    public List<String> runningOn() {
        return locate(vip);
    }

    /** Removes pgmigrate's constraint, leaving the VIP to the cluster's own constraints. */
    public void release() {
        String tag = source.node() != null ? "rsc_location" : "rsc_colocation";
        runner.runAccepting(List.of("cibadmin", "--delete", "--scope", "constraints", "--xml-text",
                "<" + tag + " id=\"" + constraintId + "\"/>"), NO_SUCH_OBJECT);
    }

    /** One CIB update: creates or rewrites pgmigrate's constraint to put the VIP at {@code p}. */
    private void apply(Placement p) {
        String xml = p.node() != null
                ? "<rsc_location id=\"" + constraintId + "\" rsc=\"" + vip + "\" node=\"" + p.node()
                + "\" score=\"INFINITY\"/>"
                : "<rsc_colocation id=\"" + constraintId + "\" rsc=\"" + vip + "\" with-rsc=\"" + p.resource()
                + "\" score=\"INFINITY\"/>";
        runner.run("cibadmin", "--modify", "--allow-create", "--scope", "constraints", "--xml-text", xml);
    }

    private void awaitStarted(Placement p) {
        long deadline = System.nanoTime() + startTimeout.toNanos();
        while (true) {
            String expected = nodeOf(p);
            List<String> last = locate(vip);
            if (expected != null && last.equals(List.of(expected))) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new PgMigrateException(PacemakerErrorCode.CLUSTER_COMMAND_FAILED, "VIP " + vip + " did not start "
                        + (p.node() != null ? "on " + p : p + (expected == null ? "" : " (node " + expected + ")"))
                        + " within " + startTimeout.toMillis()
                        + " ms; Pacemaker reports it running on " + (last.isEmpty() ? "no node" : last)
                        + " (see crm_mon -1 for failed actions)");
            }
            try {
                Thread.sleep(pollInterval.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PgMigrateException(CoreErrorCode.INTERRUPTED, null, "interrupted while waiting for VIP "
                        + vip, e);
            }
        }
    }

    private String nodeOf(Placement p) {
        if (p.node() != null) {
            return p.node();
        }
        List<String> nodes = locate(p.resource());
        return nodes.size() == 1 ? nodes.get(0) : null;
    }

    /**
     * The nodes Pacemaker reports {@code resource} (a primitive or a group) started on, read from
     * {@code crm_mon --output-as=xml}: empty unless every part of it is Started and not failed. ({@code crm_resource
     * --locate} names the new node while the start is still pending, so it cannot tell that a move is done.)
     */
    private List<String> locate(String resource) {
        CommandRunner.Result r = runner.run("crm_mon", "--one-shot", "--output-as=xml", "--include=none,resources",
                "--resource=" + resource);
        java.util.Set<String> nodes = new java.util.TreeSet<>();
        boolean any = false;
        boolean started = true;
        for (Element res : CibXml.elements(r.stdout(), "resource")) {
            any = true;
            started &= res.getAttribute("role").equals("Started") && !res.getAttribute("failed").equals("true");
            for (Element n : CibXml.elements(res, "node")) {
                nodes.add(n.getAttribute("name"));
            }
        }
        return any && started ? new ArrayList<>(nodes) : List.of();
    }

    private static void requireName(String name, String what) {
        if (name == null || !name.matches("[A-Za-z0-9][A-Za-z0-9_.:-]*")) {
            throw new IllegalArgumentException(what + " must be a Pacemaker id (letters, digits, _ . : -), was "
                    + (name == null ? "null" : "'" + name + "'"));
        }
    }

    @Override
    public String description() {
        return "pacemaker VIP " + vip + " (" + source + " -> " + target + ")";
    }

    /** Settings of a {@link PacemakerVip}. */
    public static final class Builder {
        private final String vip;
        private Placement source;
        private Placement target;
        private String constraintId;
        private Duration startTimeout = Duration.ofSeconds(30);
        private Duration pollInterval = Duration.ofMillis(50);
        private CommandRunner runner = CommandRunner.local();

        private Builder(String vip) {
            requireName(vip, "VIP resource");
            this.vip = vip;
        }

        /** Where the VIP runs while the source takes traffic. */
        public Builder source(Placement placement) {
            this.source = Objects.requireNonNull(placement, "source");
            return this;
        }

        /** Where the VIP runs once the target takes traffic. */
        public Builder target(Placement placement) {
            this.target = Objects.requireNonNull(placement, "target");
            return this;
        }

        /** The id of the constraint pgmigrate owns. Default {@code pgmigrate-<vip>-placement}. */
        public Builder constraintId(String id) {
            this.constraintId = id;
            return this;
        }

        /** How long Pacemaker may take to start the VIP where it is asked for. Default 30 s. */
        public Builder startTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("startTimeout must be positive");
            }
            this.startTimeout = timeout;
            return this;
        }

        /** How the cluster tools are run. Default: on this host. */
        public Builder runner(CommandRunner runner) {
            this.runner = Objects.requireNonNull(runner, "runner");
            return this;
        }

        public PacemakerVip build() {
            return new PacemakerVip(this);
        }
    }
}
