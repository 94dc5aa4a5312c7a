package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** A source before 14 has no TID range scans: large tables are split by ranges of their integer key. */
@PostgresPair(source = 13, target = 18)
class InitialCopy13To18IT extends InitialCopyContract {

    @Override
    int entries() {
        return 300_000;
    }
}
