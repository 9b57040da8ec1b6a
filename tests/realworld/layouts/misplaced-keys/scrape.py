from prefect import flow


@flow(name="rw-misplaced-scrape")
def scrape_listings(pages: int = 3):
    return list(range(pages))
