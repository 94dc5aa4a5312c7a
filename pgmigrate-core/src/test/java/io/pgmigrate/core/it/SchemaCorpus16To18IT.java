package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The schema corpus copied from PostgreSQL 16 to 18. */
@PostgresPair(source = 16, target = 18)
class SchemaCorpus16To18IT extends SchemaCorpusContract {
}
