DROP TABLE report_chunks;
DROP TABLE report_files;
DROP TABLE operations;
