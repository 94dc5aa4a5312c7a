package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The catalog schema copy from PostgreSQL 16 to 18. */
@PostgresPair(source = 16, target = 18)
class SchemaCopy16To18IT extends SchemaCopyContract {
}
