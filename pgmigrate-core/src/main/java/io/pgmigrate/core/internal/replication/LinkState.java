package io.pgmigrate.core.internal.replication;

import io.pgmigrate.CopyState;
import io.pgmigrate.Lsn;
import io.pgmigrate.TableStatus;
import io.pgmigrate.core.internal.schema.TableRef;

import java.time.Duration;
import java.util.List;

/**
 * What the servers say about one link right now.
 *
 * @param subscriptionExists whether the subscription is on the target
 * @param enabled            whether it is enabled
 * @param slotExists         whether its slot is on the source
 * @param sourceLsn          the source's current WAL position
 * @param confirmedLsn       the slot's confirmed flush position: the target has durably applied everything before it
 * @param lagTime            replay lag as the source's walsender reports it
 * @param tables             copy state per table the subscription lists
 * @param unsubscribed       tables in the publication that the subscription does not list: their changes are skipped
 * @param problem            why the link does not progress, or empty
 * @param applyErrors        how often the subscription's apply worker failed since the statistics were reset, or -1
 *                           when the subscriber does not count it (before PostgreSQL 15)
 * @param publicationExists  whether the publication is on the publisher
 * @param retainedWalBytes   WAL the slot keeps on the publisher (its restart position to the current one), or -1
 * @param conflicts          conflicts the subscriber's apply met (PostgreSQL 18's {@code confl_*} counts), or -1
 */
public record LinkState(boolean subscriptionExists, boolean enabled, boolean slotExists, Lsn sourceLsn,
                        Lsn confirmedLsn, Duration lagTime, List<TableStatus> tables, List<TableRef> unsubscribed,
                        String problem, long applyErrors, boolean publicationExists, long retainedWalBytes,
                        long conflicts) {

    public LinkState {
        tables = List.copyOf(tables);
        unsubscribed = List.copyOf(unsubscribed);
    }

    /** Whether every table the subscription lists is copied; {@link #unsubscribed()} says what it does not list. */
    public boolean allTablesReady() {
        return tables.stream().allMatch(t -> t.state() == CopyState.READY);
    }

    public long lagBytes() {
        return sourceLsn.bytesAfter(confirmedLsn);
    }
}
