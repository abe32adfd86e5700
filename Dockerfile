FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORTAL_VAR_DIR=/app/var
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY mappings ./mappings
COPY staging ./staging
COPY integration ./integration
COPY emulators ./emulators
COPY templates ./templates
COPY manage.py ./
RUN pip install --no-cache-dir . && python manage.py collectstatic --noinput --verbosity 0
RUN useradd --create-home portal && mkdir -p /app/var && chown -R portal /app/var
USER portal
EXPOSE 8000
CMD ["gunicorn", "--config", "python:config.gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
