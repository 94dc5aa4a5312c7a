package io.pgmigrate.pacemaker;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Optional;

/**
 * Runs {@link Migration#cutover()} once when an operator asks for it through the cluster: a node attribute named
 * {@code pgmigrate-cutover} (by default) set to {@code start} on any node, for example with
 * {@code crm_attribute --node NODE --name pgmigrate-cutover --update start --lifetime reboot}. The outcome is written
 * to the permanent node attribute {@code <attribute>-result}, on every node ({@code running}, {@code done}, or
 * {@code failed: <reason>}; not a cluster property, whose change stalls the cluster for seconds just before the
 * cutover moves the VIP), which also keeps the request from being carried out twice, across restarts and nodes. Call
 * {@link #poll()} from the loop that supervises the migration.
 */
public final class CutoverTrigger {

    private static final Logger LOG = LoggerFactory.getLogger(CutoverTrigger.class);

    private final Migration migration;
    private final CommandRunner runner;
    private final String attribute;
    private final NodeAttributes results;

    public CutoverTrigger(Migration migration, CommandRunner runner, String attribute) {
        NodeAttributes.requireName(attribute);
        this.migration = migration;
        this.runner = runner;
        this.attribute = attribute;
        this.results = new NodeAttributes(runner);
    }

    /** The attribute operators set to {@code start}. */
    public String attribute() {
        return attribute;
    }

    /** The recorded outcome of an earlier cutover request, if any. */
    public Optional<String> result() {
        return results.get(attribute + "-result").filter(v -> !v.isEmpty());
    }

    /** Whether some node carries the attribute with the value {@code start}. */
    public boolean requested() {
        CommandRunner.Result r = runner.attempt(List.of("cibadmin", "--query", "--xpath",
                "//status/node_state/transient_attributes//nvpair[@name='" + attribute + "']"));
        if (r.exitCode() != 0) {
            return false; // 105: no node has it
        }
        return CibXml.elements(r.stdout(), "nvpair").stream().anyMatch(e -> e.getAttribute("value").equals("start"));
    }

    /**
     * Checks for a request and carries it out: at most once, whatever happens (the outcome is recorded before this
     * returns). Returns the report of a cutover it ran.
     */
    public Optional<CutoverReport> poll() {
        if (!requested() || result().isPresent()) {
            return Optional.empty();
        }
        LOG.info("cutover requested through the cluster attribute {}", attribute);
        record("running");
        CutoverReport report;
        try {
            report = migration.cutover();
        } catch (PgMigrateException e) {
            String why = e.getMessage().replace('\n', ' ');
            try {
                record("failed: " + (why.length() > 2000 ? why.substring(0, 2000) + "..." : why));
            } catch (RuntimeException notRecorded) {
                e.addSuppressed(notRecorded); // the result stays "running": still never carried out twice
            }
            throw e;
        }
        try {
            record("done");
        } catch (RuntimeException e) {
            // the cutover is done all the same; the result stays "running", which keeps it from running again
            LOG.warn("the cutover is done, but recording it in {}-result failed: {}", attribute, e.getMessage());
        }
        LOG.info("cutover done:\n{}", report.toText());
        return Optional.of(report);
    }

    private void record(String outcome) {
        results.set(attribute + "-result", outcome);
    }
}
