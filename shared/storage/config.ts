/** The object store and the buckets: what every function (and the set-up Job) reads. */
import { bucketName, component, httpUrl, int, list, listOf, text, variable, type Values } from '../runtime/config.js';

export const LOCAL_S3_ACCESS_KEY = 'minipipeline';
export const LOCAL_S3_SECRET_KEY = 'minipipeline-local-secret';

export const storageConfig = component({
  name: 'storage',
  vars: {
    S3_ENDPOINT: variable(httpUrl('http://127.0.0.1:9000'), 'S3 API endpoint (MinIO, Ceph RGW, AWS S3).'),
    S3_ACCESS_KEY: variable(text(LOCAL_S3_ACCESS_KEY, 3), 'S3 access key.', { secret: 's3-access-key' }),
    S3_SECRET_KEY: variable(text(LOCAL_S3_SECRET_KEY, 8), 'S3 secret key.', { secret: 's3-secret-key' }),
    S3_REGION: variable(text('us-east-1'), 'S3 region.'),
    S3_PART_SIZE_MB: variable(int(8, 5, 5120), 'Multipart part size for the CSV outputs (memory per upload; the Parquet output uses S3\'s smallest, 5).'),
    INPUT_BUCKET: variable(bucketName('incoming'), 'Bucket whose new CSV files are processed.'),
    OUTPUT_BUCKET: variable(bucketName('processed'), 'Bucket the cleaned CSV, manifest, rejects, failures and state go to.'),
    INPUT_PREFIX: variable(text(''), 'Only keys under this prefix are processed.'),
    INPUT_SUFFIXES: variable(list('.csv'), 'Only keys ending with one of these (comma-separated) are processed.'),
  },
});

/** The lease that makes a redelivery during a run a no-op, and lets recovery find abandoned runs. */
export const leaseConfig = component({
  name: 'lease',
  vars: {
    LEASE_SECONDS: variable(int(900, 1), 'How long a run holds its object; must outlast HANDLER_TIMEOUT_SECONDS. An expired lease without completion is recovered.'),
  },
});

export type StorageConfig = Values<typeof storageConfig.vars>;

/** What the output bucket gets of each file's rows: the cleaned CSV, Parquet beside it, or Parquet alone. */
export const outputFormatsConfig = component({
  name: 'outputs',
  vars: {
    OUTPUT_FORMATS: variable(
      listOf(['csv', 'parquet'], 'csv', 'must name csv, parquet or both'),
      'Formats of the cleaned rows in the output bucket, comma-separated: `csv` (`cleaned/<key>`), `parquet` (`cleaned/<key>.parquet`, typed columns), or both. With `parquet` alone, Power BI reads the rows back from the Parquet file.',
    ),
  },
});
