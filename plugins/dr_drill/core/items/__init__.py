"""Items in DynamoDB's typed form, their canonical bytes, and the content digest that adds up."""
