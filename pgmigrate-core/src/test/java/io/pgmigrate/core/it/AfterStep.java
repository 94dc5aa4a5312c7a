package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.Side;

/**
 * A listener that runs an action right after a cutover step whose name starts with a prefix (such as {@code "fence "}):
 * how a test makes something happen at an exact point of a cutover, inside the window included.
 */
final class AfterStep implements MigrationListener {

    private final String prefix;
    private final Runnable action;

    private AfterStep(String prefix, Runnable action) {
        this.prefix = prefix;
        this.action = action;
    }

    /** Runs {@code action} after every step whose name starts with {@code prefix}. */
    static MigrationListener of(String prefix, Runnable action) {
        return new AfterStep(prefix, action);
    }

    @Override
    public void onCutoverStep(Side to, CutoverReport.Step step) {
        if (step.name().startsWith(prefix)) {
            action.run();
        }
    }
}
