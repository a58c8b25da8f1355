FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 WINNOW_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY winnow ./winnow
COPY projects ./projects
COPY annotator ./annotator
COPY strategies ./strategies
RUN pip install --no-cache-dir .
COPY manage.py gunicorn.conf.py ./
COPY templates ./templates
COPY static ./static
RUN DEBUG=true python manage.py collectstatic --noinput
VOLUME /data
EXPOSE 8000
ENV WEB_CONCURRENCY=8
CMD ["gunicorn", "winnow.wsgi", "--bind", "0.0.0.0:8000"]
