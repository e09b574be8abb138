-- bench/compare/latency.sql: tripline's latency rule, with its default settings, as DuckDB
-- SQL over RequestResponse NDJSON (bench/compare.sh runs it through duckdb.mjs; the file is
-- the variable tl_input: SET VARIABLE tl_input = 'FILE'; then this query).
--   series:    resource and deployment (properties, a JSON string, holds the deployment)
--   latency:   durationMs; when it is negative or absent, responseTime - requestTime of
--              properties (.NET ticks of 100 ns), as ingest/decode.c takes it
--   minute:    p95 of the latencies of each series and UTC minute (linear interpolation,
--              quantile_cont); a minute with fewer than 20 requests has none
--   baseline:  median of the series' per-minute p95 from 24 h to 6 min before the minute
--              (the 5-minute window before it left out), once it holds 30 minutes
--   breach:    p95 > 2 x baseline; a window is a run of 5 or more consecutive breaching
--              minutes (a minute without a p95 ends the run)
-- Prints the windows (runs) and the minutes in them from the 5th on (those a rule firing
-- after 5 minutes would have been firing in).
WITH req AS (
	SELECT resourceId AS resource,
	       json_extract_string(properties, '$.modelDeploymentName') AS deployment,
	       date_trunc('minute', CAST("time" AS TIMESTAMP)) AS minute,
	       CASE WHEN durationMs >= 0 THEN CAST(durationMs AS DOUBLE)
		    ELSE (CAST(json_extract(properties, '$.responseTime') AS BIGINT) -
			  CAST(json_extract(properties, '$.requestTime') AS BIGINT)) / 10000.0
	       END AS latency_ms
	FROM read_ndjson(getvariable('tl_input'),
			 columns = {"time": 'VARCHAR', durationMs: 'DOUBLE',
				    properties: 'VARCHAR', resourceId: 'VARCHAR'})
),
per_minute AS MATERIALIZED (
	SELECT resource, deployment, minute, quantile_cont(latency_ms, 0.95) AS p95
	FROM req
	WHERE latency_ms IS NOT NULL AND deployment IS NOT NULL
	GROUP BY resource, deployment, minute
	HAVING count(*) >= 20
),
based AS (
	SELECT *,
	       median(p95) OVER w AS baseline,
	       count(p95) OVER w AS baseline_minutes
	FROM per_minute
	WINDOW w AS (PARTITION BY resource, deployment ORDER BY minute
		     RANGE BETWEEN INTERVAL 24 HOURS PRECEDING AND INTERVAL 6 MINUTES PRECEDING)
),
breach AS MATERIALIZED (
	SELECT resource, deployment, minute,
	       CAST(epoch(minute) AS BIGINT) // 60 - row_number() OVER (PARTITION BY resource, deployment
						       ORDER BY minute) AS run
	FROM based
	WHERE baseline_minutes >= 30 AND p95 > 2 * baseline
),
runs AS (
	SELECT resource, deployment, run, count(*) AS minutes
	FROM breach
	GROUP BY resource, deployment, run
)
SELECT count(*) FILTER (WHERE minutes >= 5) AS flagged_windows,
       coalesce(sum(minutes - 4) FILTER (WHERE minutes >= 5), 0) AS flagged_minutes,
       (SELECT count(*) FROM per_minute) AS series_minutes,
       (SELECT count(*) FROM breach) AS breaching_minutes
FROM runs;
