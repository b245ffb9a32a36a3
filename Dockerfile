# One image for every occmon service of compose.yaml: gateway, ingest, api, simulators.
# The command picks the part: `gateway`, `ingest`, `api` or `simulate` (see entrypoint.sh).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/occmon
COPY pyproject.toml README.md ./
COPY occmon ./occmon
COPY gateway ./gateway
COPY ingest ./ingest
COPY api ./api
COPY thresholds ./thresholds
COPY dashboards ./dashboards
COPY simulators ./simulators
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/occmon occmon \
    && mkdir -p /var/lib/occmon /var/lib/occmon-gateway /var/lib/occmon-keys \
       /var/lib/occmon-pub /run/occmon /etc/occmon \
    && chown occmon /var/lib/occmon /var/lib/occmon-gateway /var/lib/occmon-keys \
       /var/lib/occmon-pub /run/occmon \
    && chmod 0700 /var/lib/occmon-keys

COPY deploy/occmon/entrypoint.sh /usr/local/bin/occmon-entrypoint
COPY deploy/occmon/site.yaml /etc/occmon/site.yaml

USER occmon
EXPOSE 8000
ENTRYPOINT ["occmon-entrypoint"]
CMD ["api"]
