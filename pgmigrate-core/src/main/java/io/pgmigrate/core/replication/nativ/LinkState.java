package io.pgmigrate.core.replication.nativ;

import io.pgmigrate.CopyState;
import io.pgmigrate.Lsn;
import io.pgmigrate.TableStatus;

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
 * @param tables             copy state per table
 * @param problem            why the link does not progress, or empty
 */
public record LinkState(boolean subscriptionExists, boolean enabled, boolean slotExists, Lsn sourceLsn,
                        Lsn confirmedLsn, Duration lagTime, List<TableStatus> tables, String problem) {

    public LinkState {
        tables = List.copyOf(tables);
    }

    public boolean allTablesReady() {
        return tables.stream().allMatch(t -> t.state() == CopyState.READY);
    }

    public long lagBytes() {
        return sourceLsn.bytesAfter(confirmedLsn);
    }
}
